# What the course's edge files use but do not declare: the providers and the resource group
# of the Front Door. The course's files (cloudfront.tf, frontdoor.tf) are unmodified.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    # azurerm_frontdoor (Front Door classic) exists up to azurerm 3.x.
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "main" {
  name     = "my-app-rg"
  location = "East US"
}
