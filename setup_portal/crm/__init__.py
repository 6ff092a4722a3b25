"""The instance API's model-free query layer: the resources it exposes (resources.py), the `where`
language and the other list options rendered to OData (query.py), and signed paging cursors (cursor.py).

Plain values in, plain values out: nothing here touches the database or the network.
"""
