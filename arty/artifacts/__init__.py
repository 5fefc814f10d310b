"""The artifacts layer: manifest trees, drafts, versions, aliases, download, verify."""

from arty.artifacts.draft import Artifact
from arty.artifacts.manifest import Diff, Entry
from arty.artifacts.names import ArtifactRef
from arty.artifacts.versions import ArtifactVersion, LogResult, Registry

__all__ = ["Artifact", "ArtifactRef", "ArtifactVersion", "Diff", "Entry", "LogResult", "Registry"]
