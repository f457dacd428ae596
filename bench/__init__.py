"""signflow's benchmarks: one module per benchmark (bench_*.py), the shared helpers in
common.py, the driver in run.py (`.venv/bin/python bench/run.py --check`)."""
