//! Desired state: the resource store, and the compiler that turns a valid bundle of resources
//! into immutable, versioned snapshots for the planes (swapped atomically, so a request always
//! sees one whole consistent config).
