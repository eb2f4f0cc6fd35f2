"""RAG memory: loaders, chunking, embeddings, the Chroma-backed knowledge base, retrieval and its evaluation."""
