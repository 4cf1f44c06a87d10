"""Local back-ends: WD taggers, aesthetic scorers and open-nsfw on onnxruntime; captioners on transformers."""
