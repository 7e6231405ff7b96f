"""The bench customers' access tokens and three menu item IDs, as JSON.

python -m bench.tokens   (with the server's environment; bench.run runs it)
"""

import json

import django

django.setup()

from strawberry import relay  # noqa: E402  (Django first: models need its settings)

from accounts.models import User  # noqa: E402
from accounts.tokens import create_access_token  # noqa: E402
from menu.models import MenuItem  # noqa: E402


def main() -> None:
    users = User.objects.filter(username__startswith="bench-customer").order_by("pk")
    items = MenuItem.objects.order_by("pk")[:3]
    tokens = [create_access_token(user)[0] for user in users]
    print(
        json.dumps({"tokens": tokens, "items": [relay.to_base64("MenuItem", i.pk) for i in items]})
    )


if __name__ == "__main__":
    main()
