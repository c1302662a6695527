//! Regions, health checks, the authoritative DNS with routing policies, and the front door.
