"""Test helpers shipped with the library: loopback servers that speak the cloud providers' HTTP APIs."""
