"""FastAPI dependencies shared by the route modules: the Store, the caller, validated names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from labbook.blobs import BlobStore
from labbook.limits import MAX_NAME_CHARS
from labbook.server.auth import Principal, principal_from_request
from labbook.settings import Settings
from labbook.store import Store

NAME_PATTERN = rf"^[A-Za-z0-9_.-]{{1,{MAX_NAME_CHARS}}}$"


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_blobs(request: Request) -> BlobStore:
    blobs: BlobStore = request.app.state.blobs
    return blobs


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _not_dots(v: str) -> str:
    if v in (".", ".."):
        raise ValueError("'.' and '..' are not names")
    return v


NotDots = AfterValidator(_not_dots)
StoreDep = Annotated[Store, Depends(get_store)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(principal_from_request)]
Entity = Annotated[str, Path(pattern=NAME_PATTERN, description="user or team name"), NotDots]
Project = Annotated[str, Path(pattern=NAME_PATTERN, description="project name"), NotDots]
RunId = Annotated[str, Path(pattern=NAME_PATTERN, description="run id"), NotDots]
Name = Annotated[str, Path(pattern=NAME_PATTERN), NotDots]
