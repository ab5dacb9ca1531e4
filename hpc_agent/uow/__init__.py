"""One Unit of Work's life: admission, the record, finalize, reports, retention."""
