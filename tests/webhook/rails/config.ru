# Rack entry of the test app (app.rb): creates the Active Storage and
# Action Mailbox tables from the gems' own migrations, then serves the app.
require_relative "app"
MailApp.initialize!
ActiveRecord::Migration.suppress_messages do
  %w[activestorage actionmailbox].each do |gem|
    Dir[File.join(Gem.loaded_specs[gem].full_gem_path, "db/migrate/*.rb")].sort.each { |f| load f }
  end
  conn = ActiveRecord::Base.connection
  CreateActiveStorageTables.new.migrate(:up) unless conn.table_exists?(:active_storage_blobs)
  CreateActionMailboxTables.new.migrate(:up) unless conn.table_exists?(:action_mailbox_inbound_emails)
end

# One app serves the four ingresses: Action Mailbox answers 404 unless the
# configured ingress is the one asked, so it is set from the path (requests
# are served one at a time: WEBrick here runs one request per thread, and the
# test sends one message at a time).
class PickIngress
  def initialize(app)
    @app = app
  end

  def call(env)
    ActionMailbox.ingress = $1.to_sym if env["PATH_INFO"] =~ %r{\A/rails/action_mailbox/(\w+)/}
    @app.call(env)
  end
end
use PickIngress
run MailApp
