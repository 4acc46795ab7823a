"""Streamlit page functions (imported only by app.py; every number comes from the public API)."""
