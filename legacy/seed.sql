-- The demo shop's products: the rows the legacy shop has for the hot
-- product's storefront and the README's examples. Applied by the local
-- runner's `provision` (idempotent: existing slugs are left alone), and
-- mirrored by its embedded catalog (local/runner/src/legacy.rs, SEED_PRODUCTS).
INSERT INTO shop_category (id, title, slug) VALUES
  ('6d1f4a3e-2b0c-4c8e-9a51-0e7d3b2c1a01', 'Rods', 'rods'),
  ('6d1f4a3e-2b0c-4c8e-9a51-0e7d3b2c1a02', 'Line', 'line')
ON CONFLICT (slug) DO NOTHING;

INSERT INTO shop_product (id, title, description, slug, primary_category_id, in_stock, price, deleted_at) VALUES
  ('0b5e7c2a-9d41-4f3b-8c6e-1a2b3c4d5e01', 'Muskie casting rod',
   '7''6" heavy power, fast action: built to throw big baits all day and turn a 50-inch fish.',
   'muskie-casting-rod', (SELECT id FROM shop_category WHERE slug = 'rods'), true, 24900, NULL),
  ('0b5e7c2a-9d41-4f3b-8c6e-1a2b3c4d5e02', 'Tourney casting rod',
   '7'' medium-heavy, fast action: the all-round bass tournament rod.',
   'tourney-casting-rod', (SELECT id FROM shop_category WHERE slug = 'rods'), true, 18900, NULL),
  ('0b5e7c2a-9d41-4f3b-8c6e-1a2b3c4d5e03', 'Braided line 30 lb',
   '150 yd of 8-strand braid, moss green.',
   'braided-line-30lb', (SELECT id FROM shop_category WHERE slug = 'line'), true, 1899, NULL)
ON CONFLICT (slug) DO NOTHING;
