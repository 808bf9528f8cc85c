"""The data and the model a space names, read as its schema says: ``data`` (rows, splits,
prompt format; ``data_checks`` refuses what would fail later), ``models`` (hub ids, local
folders, GGUF files, packaged and random models, prepared once into the cache).
"""
