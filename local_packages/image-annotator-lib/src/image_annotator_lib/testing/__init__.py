"""Test helpers shipped with the package so other projects' tests can reuse them (need the `onnx` package).

`tiny_models`: small ONNX models in the real WD / CLIP / SigLIP formats with outputs known in advance.
`hub_server`: a loopback HTTP server speaking the Hugging Face Hub's file-download protocol.
"""
