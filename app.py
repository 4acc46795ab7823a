"""AI compute planner: Streamlit entry point (`make app`). Pages live in simulator/ui/."""

import streamlit as st

from simulator.ui import cluster_page, hardware_page, inference_page, training_page, validation_page

st.set_page_config(page_title="AI compute planner", page_icon="🧮", layout="wide")

pages = [
    st.Page(training_page.render, title="Training planner", icon="🏋️", url_path="training", default=True),
    st.Page(inference_page.render, title="Inference and serving", icon="⚡", url_path="inference"),
    st.Page(cluster_page.render, title="Cluster simulation", icon="🖥️", url_path="cluster"),
    st.Page(hardware_page.render, title="Hardware", icon="🔧", url_path="hardware"),
    st.Page(validation_page.render, title="Validation", icon="✅", url_path="validation"),
]
st.navigation(pages).run()
