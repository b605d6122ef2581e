"""The keel benchmark runner (run it as `bench/run`; `bench/run --help` lists the flags).

Stdlib only: it runs on the system Python, builds `bench/.venv` with the peers and keel
(editable), creates the SQLite databases, then starts every framework/server pair (each
server pinned to one CPU), verifies every scenario's answer against the raw ASGI reference,
loads each with wrk pinned to another CPU, samples the server's RSS, and prints a table.

Modules, in the order a run uses them: `config` (what is benchmarked), `options` (the
command line), `environment` (venv, wrk, databases, CPUs), `processes` (servers), `verify`
(answers), `memory` (RSS), `load` (wrk runs), `startup` (import cost, idle RSS), `report`
(tables and RESULTS.md) and `cli` (`main`).
"""
