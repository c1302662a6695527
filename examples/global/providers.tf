# What the course's global files use but do not declare: one AWS provider configuration per
# region. The course's files (route53-*.tf, rds-replica.tf, s3-replication.tf) are
# unmodified.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

provider "aws" {
  alias  = "eu_west_1"
  region = "eu-west-1"
}
