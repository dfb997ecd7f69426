"""The orchestration behind each command, one module each: artifacts (weights, export folders,
checked loading), export, parity, run, bench, eval, compress, verify, sensitivity, cards.

``zoo.api`` is a thin facade over these; the CLI calls the API and never writes cards itself.
"""
