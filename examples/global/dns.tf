# The zone the course's records live in, and the load balancers its failover records point
# at: one in front of each region's gateway.

resource "aws_route53_zone" "main" {
  name = "example.com"
}

resource "aws_lb" "primary" {
  provider = aws.us_east_1
  name     = "app-alb-primary"
}

resource "aws_lb" "secondary" {
  provider = aws.eu_west_1
  name     = "app-alb-secondary"
}
