# Meridian's Ruby bootstrap: a small Lambda runtime client speaking the Runtime API
# (2018-06-01) at $AWS_LAMBDA_RUNTIME_API. Loads $_HANDLER (`file.method` or
# `file.Module::Class.method`) from $LAMBDA_TASK_ROOT, calls it with `event:` and `context:`,
# and reports errors in the shapes the AWS Ruby runtime uses (`Function<NameError>`,
# `Init<LoadError>`).
require 'json'
require 'net/http'

$stdout.sync = true
$stderr.sync = true

API = ENV.fetch('AWS_LAMBDA_RUNTIME_API', '127.0.0.1:9001')
BASE = '/2018-06-01/runtime'

# One kept-alive connection to the Runtime API.
class RuntimeApi
  def initialize
    host, port = API.split(':', 2)
    @http = Net::HTTP.new(host, Integer(port))
    @http.keep_alive_timeout = 3600
    @http.read_timeout = nil
    @http.start
  end

  def next_invocation
    res = @http.request(Net::HTTP::Get.new("#{BASE}/invocation/next"))
    [res, res.body]
  end

  def post(path, body, headers = {})
    req = Net::HTTP::Post.new("#{BASE}#{path}", { 'Content-Type' => 'application/json' }.merge(headers))
    req.body = body
    @http.request(req)
  end

  def error(path, type, message, trace, request_id = nil)
    body = { errorMessage: message, errorType: type, stackTrace: trace }
    body[:requestId] = request_id if request_id
    $stdout.puts("Error raised from handler method\n#{JSON.generate(body)}")
    post(path, JSON.generate(body), 'Lambda-Runtime-Function-Error-Type' => type)
  end
end

# The `context:` argument, with the readers the AWS Ruby runtime gives it.
class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
              :function_name, :memory_limit_in_mb, :function_version, :identity,
              :client_context, :deadline_ms

  def initialize(res)
    @aws_request_id = res['Lambda-Runtime-Aws-Request-Id']
    @invoked_function_arn = res['Lambda-Runtime-Invoked-Function-Arn']
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    @deadline_ms = res['Lambda-Runtime-Deadline-Ms'].to_i
    identity = res['Lambda-Runtime-Cognito-Identity']
    client = res['Lambda-Runtime-Client-Context']
    @identity = identity && JSON.parse(identity)
    @client_context = client && JSON.parse(client)
  end

  def get_remaining_time_in_millis
    [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
  end
end

def load_handler(api)
  handler = ENV.fetch('_HANDLER', '')
  task_root = ENV.fetch('LAMBDA_TASK_ROOT', Dir.pwd)
  file, _, target = handler.partition('.')
  if file.empty? || target.empty?
    api.error('/init/error', 'Init<ArgumentError>',
              "Bad handler '#{handler}': expected file.method or file.Class.method", [])
    exit(1)
  end
  begin
    require File.join(task_root, file)
  rescue ScriptError, StandardError => e
    api.error('/init/error', "Init<#{e.class}>", e.message, Array(e.backtrace))
    exit(1)
  end
  receiver, _, method = target.rpartition('.')
  owner = receiver.empty? ? Object.new : Object.const_get(receiver)
  unless owner.respond_to?(method, true)
    api.error('/init/error', 'Init<NoMethodError>',
              "undefined method `#{method}' for #{receiver.empty? ? 'main:Object' : receiver}", [])
    exit(1)
  end
  owner.method(method)
rescue NameError => e
  api.error('/init/error', "Init<#{e.class}>", e.message, Array(e.backtrace))
  exit(1)
end

api = RuntimeApi.new
handler = load_handler(api)
loop do
  res, body = api.next_invocation
  request_id = res['Lambda-Runtime-Aws-Request-Id']
  trace = res['Lambda-Runtime-Trace-Id']
  trace ? ENV['_X_AMZN_TRACE_ID'] = trace : ENV.delete('_X_AMZN_TRACE_ID')
  begin
    event = body.nil? || body.empty? ? nil : JSON.parse(body)
  rescue JSON::ParserError => e
    api.error("/invocation/#{request_id}/error", 'Runtime.UnmarshalError',
              "Unable to unmarshal input: #{e.message}", [], request_id)
    next
  end
  begin
    result = handler.call(event: event, context: LambdaContext.new(res))
  rescue StandardError, ScriptError => e
    api.error("/invocation/#{request_id}/error", "Function<#{e.class}>", e.message,
              Array(e.backtrace), request_id)
    next
  end
  begin
    payload = JSON.generate(result)
  rescue StandardError => e
    api.error("/invocation/#{request_id}/error", 'Runtime.MarshalError',
              "Unable to marshal response: #{e.message}", [], request_id)
    next
  end
  api.post("/invocation/#{request_id}/response", payload)
end
