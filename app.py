"""AI compute planner: Streamlit entry point (`make app`). Pages live in simulator/ui/."""

import streamlit as st

from simulator.ui import hardware_page, training_page, validation_page

st.set_page_config(page_title="AI compute planner", page_icon="🧮", layout="wide")

pages = [
    st.Page(training_page.render, title="Training planner", icon="🏋️", url_path="training", default=True),
    st.Page(hardware_page.render, title="Hardware", icon="🔧", url_path="hardware"),
    st.Page(validation_page.render, title="Validation", icon="✅", url_path="validation"),
]
st.navigation(pages).run()
