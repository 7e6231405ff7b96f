from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.services import user_for_access_token
from http_runtime.views import GraphQLView, healthz, readyz
from menu.schema import PUBLIC_QUERY_FIELDS

from .schema import schema

urlpatterns = [
    path(
        "graphql",
        # No CSRF: /graphql ignores session cookies and trusts only the Authorization header.
        csrf_exempt(
            GraphQLView.as_view(
                schema=schema,
                graphql_ide="graphiql" if settings.GRAPHIQL else None,
                user_for_token=user_for_access_token,
                public_query_fields=PUBLIC_QUERY_FIELDS,
            )
        ),
    ),
    path("healthz", healthz),
    path("readyz", readyz),
]
if settings.ADMIN_ENABLED:
    urlpatterns.append(path("admin/", admin.site.urls))
