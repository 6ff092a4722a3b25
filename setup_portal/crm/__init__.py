"""The instance API's model-free query layer: the resources it exposes (resources.py), the `where`
language (where_tokens.py, where.py; evaluate.py its meaning in Python, odata.py its `$filter`), the other
list options (query.py), and signed paging cursors (cursor.py).

Plain values in, plain values out: nothing here touches the database or the network.
"""
