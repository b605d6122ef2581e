# The fixtures are FastAPI-style projects for the codemod, not tests to collect.
collect_ignore_glob = ["fixtures/*"]
