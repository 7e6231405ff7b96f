"""The operations `make bench` drives, shared with the test that pins their SQL counts."""

# The public menu page, as ../shared/peers/compare.sh asks for it.
MENU_PAGE = (
    "{ menuItems(first: 50) { edges { node { id title price featured "
    "category { id slug title } } } } }"
)
# A customer's orders page: 20 orders with their items and menu items.
ORDERS_PAGE = (
    "{ orders(first: 20) { edges { node { id status total createdAt "
    "items { id title quantity unitPrice menuItem { id title price } } } } } }"
)
# The checkout flow: three addToCart calls, then createOrderFromCart.
ADD_TO_CART = (
    "mutation($id: ID!) { addToCart(menuItemId: $id, quantity: 1) { "
    "... on Cart { total itemCount } ... on OperationInfo { messages { message } } } }"
)
CREATE_ORDER = (
    "mutation { createOrderFromCart { ... on Order { id total items { title } } "
    "... on OperationInfo { messages { message } } } }"
)
