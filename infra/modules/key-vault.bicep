// Key Vault for the two pipeline secrets (usage-api-key for the Function App, slack-webhook-url for
// Data Factory). Access is Azure RBAC only (no access policies). The template creates no secret:
// the runbook (docs/deploy.md) sets their values, so no secret ever sits in a template or parameter file.

@description('Required. Name of the key vault (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Azure region.')
param location string

@description('Required. Resource id of the Log Analytics workspace for diagnostics.')
param workspaceId string

@description('Optional. Public network access of the vault: Enabled (default; needed without private endpoints) or Disabled.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

@description('Optional. Days a deleted vault or secret stays recoverable (purge protection forbids purging it sooner).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Tags applied to every resource.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The Function App (Flex Consumption without VNet) resolves its Key Vault reference from public outbound addresses; callers need RBAC roles, which only the template grants.
  // checkov:skip=CKV_AZURE_189:Public network access is the publicNetworkAccess parameter (Disabled needs private endpoints, not deployed by this bundle).
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
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
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Name of the key vault.')
output name string = vault.name

@description('Resource id of the key vault.')
output id string = vault.id

@description('Vault URI with a trailing slash, e.g. https://<name>.vault.azure.net/.')
output uri string = vault.properties.vaultUri
