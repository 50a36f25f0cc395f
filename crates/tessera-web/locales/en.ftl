# Tessera's user pages in English. Every language's catalog has the same keys (a test checks);
# a message missing from another language is shown from here.
# Variables: $organization is the organization's name (branding), $app an application's label.

## Every page
frame-help = Get help
frame-language = Language
frame-skip = Skip to the content

## Signing in
login-title = Sign in
login-heading = Sign in to { $organization }
login-continue-to = to continue to { $app }
login-username = Email or user name
login-password = Password
login-submit = Sign in
login-failed = The email or password is incorrect, or the account cannot sign in now.
login-change-at-source = Your password is right, but your organization's directory wants it changed first (it has expired, or must be changed at next sign-in). Change it there, for example by signing in to a computer of your organization or on its password page, then sign in here with the new one.
login-throttled-title = Too many attempts
login-throttled = There have been too many failed sign-ins from your network. Wait a few minutes and try again.
login-windows-refused = Windows sign-in did not work for your account here. Sign in with your email or user name and password.

## Changing a directory password that must be changed before signing in
change-at-source-title = Change your password
change-at-source-why = Your password is right, but your organization's directory wants it changed before you sign in: it has expired, or must be changed at next sign-in. Choose a new one here. It is changed at the directory, and works everywhere that directory signs you in.
change-at-source-for = Changing the password of { $username }.
change-at-source-submit = Change password and sign in
change-at-source-back = Back to sign-in
change-at-source-changed = Your password was changed. Sign in with the new one.
change-at-source-expired = This password change form has expired. Sign in again with your current password.

## The second factor
mfa-title = Verify it's you
mfa-instructions = Enter the 6-digit code from your authenticator app, or one of your recovery codes.
mfa-code = Code
mfa-submit = Verify
mfa-wrong-code = That code is not right. Check your authenticator app and try again.

## Setting up an authenticator app
enrol-title = Set up an authenticator app
enrol-instructions = Scan this code with your authenticator app, then enter the 6-digit code it shows.
enrol-qr = QR code to scan with your authenticator app
enrol-key = Or enter this key by hand:
enrol-open-app = Open in an authenticator app on this device
enrol-submit = Turn on
enrol-already-title = Authenticator app already set up
enrol-already = You already use an authenticator app. To replace it, remove it on your account page first.

## Recovery codes
codes-title = Your recovery codes
codes-heading = Your authenticator app is set up
codes-new-heading = Your new recovery codes
codes-instructions = Keep these recovery codes somewhere safe. Each works once, if you lose your device. They are shown only now.
codes-continue = Continue

## The password-update notice
notice-title = Password update notice
notice-text = { $organization } now signs you in to its applications, Microsoft 365 included, with this account. Use this password wherever you are asked to sign in to them; your old Microsoft 365 password no longer works there.
notice-submit = I understand

## The portal of applications
portal-title = Your applications
portal-signed-in-as = Signed in as { $user }
portal-sign-out = Sign out
portal-account = Your account
portal-set-up-mfa = Set up an authenticator app
portal-empty = No applications are assigned to you yet.

## Handing over to an application
post-title = Signing in to { $app }
post-fallback = If nothing happens, continue to the application yourself.
opening-title = Opening { $app }
opening-continue = Continue to { $app }
post-continue = Continue

## Messages
message-reference = Reference: { $reference }
message-back = Back to your applications
signed-out-title = Signed out
signed-out-heading = You are signed out
signed-out-text = Your session has ended. Close the browser to end sessions at applications that keep their own.
signed-out-again = Sign in again
sign-out-elsewhere-title = Sign out
sign-out-elsewhere = To sign out, open your applications page and choose Sign out.
failure-title = Something went wrong
failure = Sign-in is unavailable right now. Please try again in a moment.
busy-title = Busy
busy = Too many people are signing in at this moment. Try again in a few seconds.
denied-title = You cannot open this application
denied-user_suspended = Your account is suspended. Contact your administrator.
denied-no_granted_group = You do not have access to this application. Ask your administrator to add you to a group that may use it.
denied-upn_other_domain = Your account belongs to another Microsoft 365 domain than this sign-in page. Sign in from your own domain's sign-in page (type your full email address at Microsoft's sign-in).
denied-network_not_allowed = This application cannot be used from the network you are on. Connect from your organization's network and try again.
resume-gone-title = This sign-in request cannot continue
resume-gone = It has expired or was started in another browser. Go back to the application and sign in again.
session-ended-title = You were signed out
session-ended = Your session ended (you signed out, or your account was suspended) while { $app } was being opened. Go back to the application and sign in again.
refused-sign-in-title = This sign-in request was refused
refused-sign-in = { $app } sent a sign-in request that cannot be accepted: { $detail }. Go back to the application and try again, or tell your administrator.
refused-sign-out-title = This sign-out request was refused
refused-sign-out = { $app } sent a sign-out request that cannot be accepted: { $detail }. Go back to the application and try again, or tell your administrator.
error-title = Request refused
error-form_refused = This form expired or did not come from this site. Open the page again and retry.
error-unreadable_forwarding = Your request came through a proxy whose forwarding header could not be read. Try again.
error-not_found-title = Not found
error-app_not_found = There is no such application.

## The account page
account-title = Your account
account-back = Back to your applications
passkey-enrol-back = Back to your account
account-signed-in-as = { $name } ({ $email })
account-password-heading = Password
account-password-current = Current password
account-password-new = New password
account-password-confirm = New password again
account-password-hint = At least { $min } characters. A passphrase of a few words is easy to remember and hard to guess.
account-password-submit = Change password
account-password-changed = Your password has been changed. Use the new one from now on.
account-password-directory = Your password is kept by { $directory }. A change here is made there, and works everywhere that directory signs you in.
account-password-refused = { $directory } refused the new password: { $reason }.
account-password-rules = { $directory } refused the new password: it does not meet the directory's password rules (its length, complexity, history, or how soon a password may be changed again).
account-password-unavailable = Your organization's directory cannot be reached right now, so your password was not changed. Try again in a moment.
account-password-none = Your account has no password here. Ask your administrator how you sign in.
account-password-wrong = The current password is not right.
account-password-mismatch = The two new passwords are not the same.
account-password-same = The new password must differ from the current one.
account-password-weak = The new password does not meet the rules: use { $min } to { $max } characters, without control characters.
account-factors-heading = Authenticator app
account-factors-none = You have no authenticator app. Its codes keep your account safe even if your password is stolen, wherever a passkey cannot be used.
account-factors-add = Set up an authenticator app
account-factor-app = Authenticator app
account-factor-added = Added on { $date }
account-factor-name = Name
account-factor-rename = Rename
account-factor-renamed = The authenticator app has been renamed.
account-factor-name-invalid = Give a name of 1 to 64 characters, without control characters.
account-factor-remove = Remove
account-factor-remove-confirm = To remove it, enter your password
account-factor-removed = The authenticator app has been removed. Set up a new one before you next need it.
account-passkeys-heading = Passkeys and security keys
account-passkeys-none = You have no passkey yet. A passkey signs you in with your device's screen lock or a security key, and cannot be phished.
account-passkeys-added = Added
account-passkeys-used = Last used
account-passkeys-never = Never
account-passkeys-unavailable = Passkeys are not available on this server: its address must be a host name over https. Ask your administrator.
account-passkey-name = Name of the new passkey
account-passkey-confirm = To add it, enter your password
account-passkey-add = Add a passkey
account-passkey-added = The passkey has been added.
account-passkey-removed = The passkey has been removed.
account-passkey-remove-which = Passkey to remove
account-passkey-expired = That passkey request has ended (it waits five minutes). Start again.
account-passkey-name-taken = You already have a passkey of that name. Choose another name.
account-passkey-already = That authenticator already holds one of your passkeys.
account-passkey-refused = Your authenticator's answer was not accepted. Try again, or use another authenticator.
account-passkey-show-one-first = You already have a passkey: to add another, sign out and sign in with one of your passkeys first.
account-passkey-model = Your organization does not allow this kind of authenticator. Use one your administrator hands out.
passkey-enrol-title = Add a passkey
passkey-enrol-text = Create the passkey "{ $name }" with your device's screen lock or your security key.
passkey-enrol-submit = Create the passkey
passkey-enrol-failed = No passkey was created: your browser or authenticator declined. Try again, or go back.
passkey-needs-script = Passkeys need JavaScript, which is off in this browser.
mfa-passkey-heading = Use a passkey
mfa-passkey-submit = Use my passkey
mfa-code-heading = Or enter a code
mfa-passkey-only = This application accepts only a passkey as the second step. Use one of your passkeys.
mfa-passkey-refused = Your passkey was not accepted. Try again, or use another passkey.
mfa-nothing-title = Your second factor cannot be used here
mfa-nothing = Your passkeys cannot be used on this server. Contact your administrator, who can reset your second factors.
login-passkey = Sign in with a passkey
login-passkey-refused = Your passkey was not accepted. Try again, or sign in with your password.
passkey-sign-in-title = Sign in with a passkey
passkey-sign-in-text = Choose your passkey for this site: your device asks for its screen lock, or your security key for its PIN.
passkey-sign-in-failed = No passkey was used: your browser or authenticator declined. Try again, or sign in with your password.
passkey-use-password = Sign in with your password instead
passkey-passwordless-off = This application does not take a passkey alone. Sign in with your password.
passkey-required-title = This application needs a passkey
passkey-required-text = This application accepts only a passkey (or a security key) as the second step, and a code from an authenticator app is not enough. Add a passkey on your account page, then open the application again.
passkey-required-account = Add a passkey on your account page
passkey-required-unavailable = This application accepts only a passkey, but passkeys are not available on this server. Contact your administrator.
account-codes-heading = Recovery codes
account-codes-left = { $count ->
    [0] You have no recovery codes left.
    [one] You have 1 recovery code left.
   *[other] You have { $count } recovery codes left.
}
account-codes-renew = Create new recovery codes
account-codes-renew-confirm = To create new codes (the old ones stop working), enter your password
account-sign-ins-heading = Recent sign-ins
account-sign-ins-when = When
account-sign-ins-what = What
account-sign-ins-from = Address
account-sign-ins-none = No sign-ins yet.
account-sign-in-password = Signed in
account-sign-in-failed = Wrong password or code
account-sign-in-mfa = Verified with a second factor
account-sign-in-app = Opened { $app }
account-sign-in-denied = Refused access to { $app }
account-sign-in-signed-out = Signed out
account-sessions-heading = Sessions
account-sessions-text = Signed in on another computer or browser you no longer use? Sign out everywhere, this browser included.
account-sessions-submit = Sign out everywhere
account-unknown-app = an application that no longer exists
