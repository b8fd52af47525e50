"""aetherflow.spec: the models of the YAML documents.

Importing the package imports no model (each document type's module is imported by what reads it).
"""

DOCUMENT_KINDS = ("flow", "profiles", "manifest", "scheduler")
"""The YAML document types with a model (and a JSON Schema: ``aetherflow schema KIND``)."""
