// Azure SQL logical server and the warehouse database. Microsoft Entra authentication only: there is
// no SQL login and no password anywhere. Data Factory's managed identity gets a contained database
// user from infra/sql/grant_identities.sql (run by the runbook); the Function App does not use SQL.

@description('Required. Name of the logical server.')
param serverName string

@description('Required. Name of the warehouse database.')
param databaseName string

@description('Required. Azure region.')
param location string

@description('Required. Login name of the Entra administrator (a user principal name, group or app display name).')
param adminLogin string

@description('Required. sid of the Entra administrator: object id of a user or group, application (client) id of an application.')
param adminObjectId string

@description('Required. Principal type of the Entra administrator: User, Group or Application.')
@allowed(['User', 'Group', 'Application'])
param adminPrincipalType string

@description('Required. Whether the server exists already (infra/deploy.sh finds out). Entra-only authentication is set in the server\'s own properties only when it is created; an existing server gets it through its azureADOnlyAuthentications child.')
param serverExists bool

@description('Required. Firewall rules as objects {name, startIpAddress, endIpAddress}, e.g. the deployer\'s address.')
param firewallRules array

@description('Required. Whether to add the 0.0.0.0 rule that lets Azure services (Data Factory\'s Azure integration runtime) reach the server.')
param allowAzureServices bool

@description('Required. Resource id of the Log Analytics workspace for diagnostics and auditing.')
param workspaceId string

@description('Optional. Maximum vCores of the serverless database.')
@allowed([1, 2, 4, 6, 8])
param maxVCores int = 1

@description('Optional. Minutes of inactivity after which the serverless database pauses (-1 = never).')
param autoPauseDelayMinutes int = 60

@description('Optional. Tags applied to every resource.')
param tags object = {}

// The Microsoft Entra administrator with Entra-only authentication, in the server's own properties only when the
// server is created: "The Azure Active Directory administrator can be utilized during server creation and for
// server updates, except for the azureADOnlyAuthentication property. To update the azureADOnlyAuthentication
// property, individual API must be used" (ServerProperties.administrators). Sent again to an existing server,
// ARM refuses the whole deployment (AadOnlyAuthenticationIsEnabled, Azure/bicep#6858). The two child resources
// below keep the administrator and the flag on every deployment, through their own APIs.
var createAdministrators = {
  administratorType: 'ActiveDirectory'
  azureADOnlyAuthentication: true
  login: adminLogin
  sid: adminObjectId
  principalType: adminPrincipalType
  tenantId: subscription().tenantId
}

resource server 'Microsoft.Sql/servers@2023-08-01' = {
  // checkov:skip=CKV_AZURE_24:Audit logs go to Log Analytics and live as long as the workspace retention; retentionDays applies only to a storage-account audit target, which this bundle does not use.
  // checkov:skip=CKV_AZURE_25:Threat detection needs Microsoft Defender for SQL, a paid plan enabled per subscription (see docs/deploy.md).
  // checkov:skip=CKV_AZURE_113:Data Factory's Azure integration runtime reaches the server over its public endpoint; the firewall admits only listed addresses and, optionally, Azure services.
  name: serverName
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    restrictOutboundNetworkAccess: 'Disabled'
    // Only when the server is created (a server needs an administrator to exist); see createAdministrators.
    administrators: serverExists ? null : createAdministrators
  }
}

// The Microsoft Entra administrator through its own API, so that a change of SQL_ADMIN_* applies on redeploy.
resource entraAdministrator 'Microsoft.Sql/servers/administrators@2023-08-01' = {
  parent: server
  name: 'ActiveDirectory'
  properties: {
    administratorType: 'ActiveDirectory'
    login: adminLogin
    sid: adminObjectId
    tenantId: subscription().tenantId
  }
}

// Entra-only authentication through "Server Azure AD Only Authentications - Create Or Update": no SQL login
// can connect, whatever a previous deployment or a person in the portal set.
resource entraOnly 'Microsoft.Sql/servers/azureADOnlyAuthentications@2023-08-01' = {
  parent: server
  name: 'Default'
  dependsOn: [
    entraAdministrator
  ]
  properties: {
    azureADOnlyAuthentication: true
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
  // checkov:skip=CKV_AZURE_23:Auditing is enabled once on the server (auditingSettings below), which covers every database.
  // checkov:skip=CKV_AZURE_25:Threat detection needs Microsoft Defender for SQL, a paid plan enabled per subscription (see docs/deploy.md).
  // checkov:skip=CKV_AZURE_26:Alert e-mails belong to Microsoft Defender for SQL, see CKV_AZURE_25.
  // checkov:skip=CKV_AZURE_27:Alert e-mails belong to Microsoft Defender for SQL, see CKV_AZURE_25.
  // checkov:skip=CKV_AZURE_229:Zone redundancy costs extra; point-in-time backups remain, and the warehouse can be rebuilt by replaying the pipeline over bronze and crm.
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: {
    name: 'GP_S_Gen5'
    tier: 'GeneralPurpose'
    family: 'Gen5'
    capacity: maxVCores
  }
  properties: {
    collation: 'Latin1_General_100_CI_AS_SC_UTF8'
    autoPauseDelay: autoPauseDelayMinutes
    minCapacity: json('0.5')
    zoneRedundant: false
    requestedBackupStorageRedundancy: 'Local'
  }
}

resource firewall 'Microsoft.Sql/servers/firewallRules@2023-08-01' = [for rule in firewallRules: {
  parent: server
  name: rule.name
  properties: {
    startIpAddress: rule.startIpAddress
    endIpAddress: rule.endIpAddress
  }
}]

// The documented special rule: start = end = 0.0.0.0 admits connections from Azure services only.
resource allowAzure 'Microsoft.Sql/servers/firewallRules@2023-08-01' = if (allowAzureServices) {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

// Server auditing goes to Log Analytics through a diagnostic setting on the master database.
resource master 'Microsoft.Sql/servers/databases@2023-08-01' existing = {
  // checkov:skip=CKV_AZURE_23:The existing system database master is only the scope of the audit diagnostic setting; server auditing covers it.
  // checkov:skip=CKV_AZURE_25:The existing system database master is only the scope of the audit diagnostic setting; see the database for Defender.
  parent: server
  name: 'master'
}

resource auditDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: master
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'SQLSecurityAuditEvents'
        enabled: true
      }
    ]
  }
}

resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = {
  parent: server
  name: 'default'
  dependsOn: [
    auditDiagnostics
  ]
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    auditActionsAndGroups: [
      'SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP'
      'FAILED_DATABASE_AUTHENTICATION_GROUP'
      'BATCH_COMPLETED_GROUP'
    ]
  }
}

resource databaseDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: database
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Basic'
        enabled: true
      }
    ]
  }
}

@description('Name of the logical server.')
output serverName string = server.name

@description('Fully qualified domain name of the server, e.g. <name>.database.windows.net.')
output serverFqdn string = server.properties.fullyQualifiedDomainName

@description('Name of the warehouse database.')
output databaseName string = database.name
