"""Benchmarks of Garage ERP (``make bench`` / ``python -m bench``)."""
