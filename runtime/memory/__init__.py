"""Memory: namespaced, provenance-carrying vector memory over Chroma, embedded offline.

Owns: the MemoryStore protocol, the Chroma store and the MiniLM embedding function. Never
authorizes: callers ask `runtime.memory` policy first. Only this package imports chromadb.
"""
