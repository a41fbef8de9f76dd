-- modelship: initial schema. The migration runner creates schema_migrations itself.
-- Key/value facts about this database that the tools and the server share (e.g. the schema owner).
create table if not exists modelship_meta (
  key        text primary key,
  value      jsonb not null,
  updated_at timestamptz not null default now()
);
insert into modelship_meta (key, value) values ('schema', '{"initialized_by": "modelship"}') on conflict (key) do nothing;
