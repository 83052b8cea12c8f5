"""Experiment functions: one per paper figure or table, settings in, tidy DataFrame out.

A chapter never trains a model or loops over attacks itself; it calls one of these and
draws the table it gets back (``shared/DESIGN.md``).
"""
