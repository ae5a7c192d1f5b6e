"""An analyst's saved queries: save (or replace) one under a name, remove one. The SQL is
only checked for length here; it runs nowhere but in the projections' sandbox."""

from __future__ import annotations

from domain.base import PPCXAggregate
from domain.saved_query import SavedQueries, check_query_name, check_sql, saved_queries_id_for
from handlers.unit_of_work import HandlerContext


class SavedQueryHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def list(self, user_id: str) -> dict[str, str]:
        """The user's saved queries, name → SQL, in the order first saved."""
        found = self.app.find(SavedQueries, saved_queries_id_for(user_id))
        return dict(found.queries) if found is not None else {}

    def save(self, user_id: str, name: object, sql: object) -> None:
        checked_name, checked_sql = check_query_name(name), check_sql(sql)

        def change() -> tuple[list[PPCXAggregate], None]:
            at = self.ctx.now()
            queries = self.app.find(SavedQueries, saved_queries_id_for(user_id))
            if queries is None:
                queries = SavedQueries(
                    id=saved_queries_id_for(user_id), user_id=user_id, by=user_id, timestamp=at
                )
            queries.check_save(checked_name)
            queries.save(name=checked_name, sql=checked_sql, by=user_id, timestamp=at)
            return [queries], None

        self.ctx.run(change)

    def remove(self, user_id: str, name: str) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            at = self.ctx.now()
            queries = self.app.load(SavedQueries, saved_queries_id_for(user_id), "name")
            queries.check_remove(name)
            queries.remove(name=name, by=user_id, timestamp=at)
            return [queries], None

        self.ctx.run(change)
