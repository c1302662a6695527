# What the course's cloudfront.tf leaves out but origin access control needs: the bucket's
# policy letting CloudFront's service principal read it for this distribution only (the
# policy CloudFront's console offers to copy). Without it the distribution is refused by
# its private bucket, as on AWS.
data "aws_iam_policy_document" "cdn_origin" {
  statement {
    sid       = "AllowCloudFrontServicePrincipalReadOnly"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.cdn_origin.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.cdn.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "cdn_origin" {
  bucket = aws_s3_bucket.cdn_origin.id
  policy = data.aws_iam_policy_document.cdn_origin.json
}
