-- The legacy Django shop's tables, exactly as fixed in DESIGN.md ("Legacy PostgreSQL").
-- Tests and the local stack load this file unchanged; the sync never alters these tables
-- (its own bookkeeping lives in the order_sync schema, see projections/legacy-sync/migrations).
CREATE TABLE shop_category (id uuid PRIMARY KEY, title varchar(200) NOT NULL, slug varchar(50) NOT NULL UNIQUE);
CREATE TABLE shop_product (id uuid PRIMARY KEY, title varchar(200) NOT NULL, description text NOT NULL,
  slug varchar(50) NOT NULL UNIQUE, primary_category_id uuid REFERENCES shop_category(id),
  in_stock boolean NOT NULL, price integer NOT NULL, deleted_at timestamptz);
CREATE TABLE shop_basket (id uuid PRIMARY KEY, created_by_id integer, deleted_at timestamptz,
  order_id text NOT NULL DEFAULT '');
CREATE TABLE shop_basketitem (id serial PRIMARY KEY, basket_id uuid NOT NULL REFERENCES shop_basket(id),
  item_sku_id uuid NOT NULL REFERENCES shop_product(id), item_price integer NOT NULL,
  quantity integer NOT NULL, UNIQUE (basket_id, item_sku_id));
-- back-office tables the legacy reporting reads; the sync owns their rows
CREATE TABLE shop_order (id uuid PRIMARY KEY, customer_id varchar(128) NOT NULL, basket_id uuid,
  status varchar(16) NOT NULL, currency char(3) NOT NULL, total bigint NOT NULL,
  placed_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE shop_orderitem (id serial PRIMARY KEY, order_id uuid NOT NULL REFERENCES shop_order(id),
  product_id uuid REFERENCES shop_product(id), sku varchar(64) NOT NULL,
  item_price integer NOT NULL, quantity integer NOT NULL, UNIQUE (order_id, sku));
