"""The whole stack as local processes (`smmc stack up|status|scenario`), and the launcher the
end-to-end tests start it through."""
