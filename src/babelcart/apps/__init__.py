"""Shop jobs built on the shared vector space: classify, search, recommend, support, monitor."""
