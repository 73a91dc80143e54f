"""An example broker-sim plugin package (see plugin.py); installed, it registers its models by itself."""
