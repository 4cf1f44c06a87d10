"""The `lorairo` command line: headless commands over the same services the GUI uses."""
