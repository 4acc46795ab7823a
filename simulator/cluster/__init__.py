"""The cluster simulation (SimPy): a shared cluster's pools, job mix, scheduling policy, failures and
checkpoint/restart, inference services, and what they cost.

schema (the YAML) -> spec (frozen types) <- scenario, trace, jobs (building them; one seed's job list) ->
policies (pure scheduling decisions) -> state (the run's mutable state) -> queue, segments, failures, services (one
concern each) -> engine (a run wires them; `simulate_cluster`) -> metrics (the summary). analytic holds the
closed-form reliability and queueing formulas the run and its validation use.
"""
