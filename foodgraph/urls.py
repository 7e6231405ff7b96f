from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from .schema import schema
from .views import GraphQLView, healthz, readyz

urlpatterns = [
    path(
        "graphql",
        # No CSRF: /graphql ignores session cookies and trusts only the Authorization header.
        csrf_exempt(
            GraphQLView.as_view(
                schema=schema, graphql_ide="graphiql" if settings.GRAPHIQL else None
            )
        ),
    ),
    path("healthz", healthz),
    path("readyz", readyz),
]
if settings.ADMIN_ENABLED:
    urlpatterns.append(path("admin/", admin.site.urls))
