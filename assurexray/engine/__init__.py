"""Engine: what jobs share: options, opening a model, batched predict/explain streams and writer
threads.
"""
