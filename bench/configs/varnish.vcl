# Varnish as the caching reverse proxy in front of the origin: the path as the cache key (as
# CloudFront's default policy), 200s kept for an hour (the origin sends no Cache-Control),
# concurrent misses for one key collapsed (Varnish's waiting list, on by default).
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "@ORIGIN_PORT@";
}

sub vcl_recv {
    set req.url = regsub(req.url, "\?.*$", "");
    return (hash);
}

sub vcl_backend_response {
    if (beresp.status == 200) {
        set beresp.ttl = 1h;
    }
}
