"""A small database resource: /items."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from fastapi_app.core.db import get_session
from fastapi_app.models import Item, ItemCreate, ItemPublic

router = APIRouter(prefix="/items", tags=["items"])
SessionDep = Annotated[Session, Depends(get_session)]


@router.post("", status_code=201, response_model=ItemPublic)
def create_item(payload: ItemCreate, session: SessionDep) -> Item:
    item = Item(name=payload.name, description=payload.description)
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


@router.get("", response_model=list[ItemPublic])
def list_items(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    name: str | None = None,
) -> list[Item]:
    query = select(Item).order_by(Item.id.desc()).limit(limit)
    if name is not None:
        query = query.where(Item.name == name)
    return list(session.scalars(query))


@router.get("/{item_id}", response_model=ItemPublic)
def get_item(item_id: int, session: SessionDep) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"item {item_id} not found")
    return item
