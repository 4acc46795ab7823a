"""AI compute planner: Streamlit entry point (`make app`). Pages live in simulator/ui/."""

import streamlit as st

from simulator.ui import cluster_page, hardware_page, inference_page, lifecycle_page, training_page, validation_page

st.set_page_config(page_title="AI compute planner", page_icon="🧮", layout="wide")

training = st.Page(training_page.render, title="Training planner", icon="🏋️", url_path="training")


def _home() -> None:
    """`/` opens the training planner at its own address, so /training can be bookmarked and shared."""
    st.switch_page(training)


pages = [
    st.Page(_home, title="AI compute planner", url_path="home", default=True, visibility="hidden"),
    training,
    st.Page(inference_page.render, title="Inference and serving", icon="⚡", url_path="inference"),
    st.Page(lifecycle_page.render, title="Lifecycle", icon="♻️", url_path="lifecycle"),
    st.Page(cluster_page.render, title="Cluster simulation", icon="🖥️", url_path="cluster"),
    st.Page(hardware_page.render, title="Hardware", icon="🔧", url_path="hardware"),
    st.Page(validation_page.render, title="Validation", icon="✅", url_path="validation"),
]
st.navigation(pages).run()
