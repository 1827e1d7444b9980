"""The pure-Python detection the native engine replaced, kept only as the oracle of the differential
tests (``tests/test_engine_*.py``): same inputs, same findings, same spans. Not shipped."""
