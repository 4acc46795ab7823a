"""The analytical core: pure, vectorised estimators over frozen types. No file I/O, no simulation or UI libraries
(the import contract in pyproject.toml holds it to that); ids become objects in `simulator.catalog`.

model (parameter, FLOP and byte counts) and hardware (accelerators, links, curves) are the types; roofline (kernel
times) and comm (collectives on a two-tier hierarchy) the building blocks; plans (parallel plans as arrays), training
(step time, memory, MFU), search (all plans, ranking, Pareto), inference (iteration time, KV cache) and cost (prices,
energy, carbon) the estimators.
"""
