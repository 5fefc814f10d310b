"""The artifacts layer: manifest trees, drafts, versions, aliases, download, verify."""

from arty.artifacts.draft import Artifact
from arty.artifacts.manifest import Diff, Entry
from arty.artifacts.names import ArtifactRef
from arty.artifacts.versions import ArtifactCollection, ArtifactEntry, ArtifactVersion, LogResult, Registry

__all__ = ["Artifact", "ArtifactCollection", "ArtifactEntry", "ArtifactRef", "ArtifactVersion", "Diff", "Entry", "LogResult", "Registry"]
