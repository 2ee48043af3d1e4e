"""The core of IndexLab Batch: states, errors, ids, settings, catalogs, plans, shared limits and the rules over them.

Nothing here runs a batch or touches the store; every other layer may import it.
"""
