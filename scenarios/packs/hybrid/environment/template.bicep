metadata description = 'Hybrid On-Premises Integration: the learner\'s foundation (VNet with GatewaySubnet and an endpoints subnet, route-based VPN gateway and its public IP, local network gateway for the instructor\'s site, serverless Azure SQL, Data Factory, Key Vault holding the shared key, Log Analytics). With deployReferenceSolution the implementation tasks\' results too: the site-to-site connection with a custom IPsec policy, the self-hosted integration runtime, the nightly trigger, Entra-only SQL, Key Vault RBAC, the SQL private endpoint with its private DNS zone and VNet link, SQL auditing, auto-pause and diagnostic settings.'

@description('Short unique prefix (lower-case letters and digits) for every resource name.')
@minLength(3)
@maxLength(16)
param namePrefix string

@description('Azure region (UK regions for the residency requirement).')
param location string = resourceGroup().location

@description('The learner\'s private /16, unique within the cohort (e.g. 10.4.0.0/16).')
param vnetAddressPrefix string

@description('Public IP of the instructor\'s simulated on-premises VPN device.')
param onPremGatewayIp string

@description('Address space of the simulated on-premises site.')
param onPremAddressPrefixes array = [
  '192.168.0.0/16'
]

@description('IPsec pre-shared key; stored in the environment\'s Key Vault for the learner\'s connection.')
@secure()
param vpnSharedKey string

@description('Entra ID object id of the learner; when empty, no access is granted to a person.')
param learnerObjectId string = ''

@description('Password of the SQL server\'s administrator login, used until the learner switches to Entra-only authentication.')
@secure()
param sqlAdminPassword string

@description('Value of the workshop-pack tag (the pack id): the cost guard and teardown find environments by it.')
param workshopPack string

@description('false: the foundation only, as learners receive it. true: also what the implementation tasks add (role assignments, diagnostic settings, ...) -- a finished environment for rehearsals and tests.')
param deployReferenceSolution bool = false

var tags = {
  'workshop-pack': workshopPack
}
var names = {
  law: '${namePrefix}-law'
  vnet: '${namePrefix}-vnet'
  gatewayIp: '${namePrefix}-vpngw-pip'
  gateway: '${namePrefix}-vpngw'
  localGateway: '${namePrefix}-onprem-lng'
  connection: '${namePrefix}-s2s'
  sqlServer: '${namePrefix}-sql'
  database: 'analytics'
  dataFactory: '${namePrefix}-adf'
  keyVault: '${namePrefix}-kv'
  privateEndpoint: '${namePrefix}-sql-pe'
  privateDnsZone: 'privatelink${environment().suffixes.sqlServerHostname}'
}
var octets = split(split(vnetAddressPrefix, '/')[0], '.')
var gatewaySubnetPrefix = '${octets[0]}.${octets[1]}.255.0/27'
var endpointsSubnetPrefix = '${octets[0]}.${octets[1]}.1.0/24'
var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

@description('Adds workshop-pack=<pack> to the resource group, keeping the tags the engine set (run, learner, expiry).')
resource groupTags 'Microsoft.Resources/tags@2024-03-01' = {
  name: 'default'
  properties: {
    tags: union(resourceGroup().?tags ?? {}, tags)
  }
}

resource law 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.law
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: names.vnet
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: 'GatewaySubnet'
        properties: {
          addressPrefix: gatewaySubnetPrefix
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointsSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource gatewayIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: names.gatewayIp
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  zones: [
    '1'
    '2'
    '3'
  ]
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource gateway 'Microsoft.Network/virtualNetworkGateways@2024-05-01' = {
  name: names.gateway
  location: location
  tags: tags
  properties: {
    gatewayType: 'Vpn'
    vpnType: 'RouteBased'
    vpnGatewayGeneration: 'Generation1'
    sku: {
      name: 'VpnGw1AZ'
      tier: 'VpnGw1AZ'
    }
    enableBgp: false
    activeActive: false
    ipConfigurations: [
      {
        name: 'default'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: resourceId('Microsoft.Network/virtualNetworks/subnets', names.vnet, 'GatewaySubnet')
          }
          publicIPAddress: {
            id: gatewayIp.id
          }
        }
      }
    ]
  }
  dependsOn: [
    vnet
  ]
}

resource localGateway 'Microsoft.Network/localNetworkGateways@2024-05-01' = {
  name: names.localGateway
  location: location
  tags: tags
  properties: {
    gatewayIpAddress: onPremGatewayIp
    localNetworkAddressSpace: {
      addressPrefixes: onPremAddressPrefixes
    }
  }
}

resource sqlServer 'Microsoft.Sql/servers@2023-08-01' = {
  name: names.sqlServer
  location: location
  tags: tags
  properties: {
    administratorLogin: 'sqladmin'
    administratorLoginPassword: sqlAdminPassword
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: (deployReferenceSolution ? 'Disabled' : 'Enabled')
    administrators: (empty(learnerObjectId)
      ? null
      : {
          administratorType: 'ActiveDirectory'
          principalType: 'User'
          login: 'workshop-learner'
          sid: learnerObjectId
          tenantId: subscription().tenantId
          azureADOnlyAuthentication: deployReferenceSolution
        })
  }
}

@description('Serverless; auto-pause starts off (-1) so the initial load runs uninterrupted -- enabling it is the learner\'s cost task.')
resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
  parent: sqlServer
  name: names.database
  location: location
  tags: tags
  sku: {
    name: 'GP_S_Gen5'
    tier: 'GeneralPurpose'
    family: 'Gen5'
    capacity: 1
  }
  properties: {
    collation: 'SQL_Latin1_General_CP1_CI_AS'
    maxSizeBytes: 34359738368
    minCapacity: json('0.5')
    zoneRedundant: false
    autoPauseDelay: (deployReferenceSolution ? 60 : -1)
    requestedBackupStorageRedundancy: 'Local'
  }
}

resource dataFactory 'Microsoft.DataFactory/factories@2018-06-01' = {
  name: names.dataFactory
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: 'Enabled'
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: deployReferenceSolution
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    accessPolicies: (((deployReferenceSolution == true) || empty(learnerObjectId))
      ? []
      : [
          {
            tenantId: subscription().tenantId
            objectId: learnerObjectId
            permissions: {
              secrets: [
                'get'
                'list'
                'set'
                'delete'
              ]
            }
          }
        ])
    publicNetworkAccess: 'Enabled'
  }
}

resource keyVaultVpnSharedKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'vpn-shared-key'
  properties: {
    value: vpnSharedKey
    contentType: 'IPsec pre-shared key'
  }
}

resource connection 'Microsoft.Network/connections@2024-05-01' = if (deployReferenceSolution) {
  name: names.connection
  location: location
  tags: tags
  properties: {
    connectionType: 'IPsec'
    connectionProtocol: 'IKEv2'
    routingWeight: 0
    sharedKey: vpnSharedKey
    virtualNetworkGateway1: {
      id: gateway.id
      properties: {}
    }
    localNetworkGateway2: {
      id: localGateway.id
      properties: {}
    }
    enableBgp: false
    usePolicyBasedTrafficSelectors: false
    ipsecPolicies: [
      {
        saLifeTimeSeconds: 27000
        saDataSizeKilobytes: 102400000
        ipsecEncryption: 'AES256'
        ipsecIntegrity: 'SHA256'
        ikeEncryption: 'AES256'
        ikeIntegrity: 'SHA256'
        dhGroup: 'DHGroup14'
        pfsGroup: 'PFS14'
      }
    ]
  }
}

resource dataFactoryOnpremShir 'Microsoft.DataFactory/factories/integrationRuntimes@2018-06-01' = if (deployReferenceSolution) {
  parent: dataFactory
  name: 'onprem-shir'
  properties: {
    type: 'SelfHosted'
    description: 'Runs on the on-premises runtime host; register it with an authentication key.'
  }
}

resource dataFactoryAdmissionsLoad 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = if (deployReferenceSolution) {
  parent: dataFactory
  name: 'admissions-load'
  properties: {
    description: 'Incremental copy of admissions from on-premises SQL Server, then the occupancy refresh.'
    activities: [
      {
        name: 'Placeholder'
        type: 'Wait'
        typeProperties: {
          waitTimeInSeconds: 1
        }
      }
    ]
  }
}

resource dataFactoryNightly0100 'Microsoft.DataFactory/factories/triggers@2018-06-01' = if (deployReferenceSolution) {
  parent: dataFactory
  name: 'nightly-0100'
  properties: {
    type: 'ScheduleTrigger'
    description: 'Runs the load at 01:00 UTC; a template creates it Stopped -- start it.'
    pipelines: [
      {
        pipelineReference: {
          referenceName: 'admissions-load'
          type: 'PipelineReference'
        }
      }
    ]
    typeProperties: {
      recurrence: {
        frequency: 'Day'
        interval: 1
        startTime: '2026-01-01T01:00:00Z'
        timeZone: 'UTC'
        schedule: {
          hours: [
            1
          ]
          minutes: [
            0
          ]
        }
      }
    }
  }
  dependsOn: [
    dataFactoryAdmissionsLoad
  ]
}

resource dataFactorySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution) {
  scope: keyVault
  name: guid(keyVault.id, dataFactory.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: dataFactory.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource learnerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployReferenceSolution && (!empty(learnerObjectId))) {
  scope: keyVault
  name: guid(keyVault.id, learnerObjectId, roles.keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: learnerObjectId
    principalType: 'User'
  }
}

resource privateDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = if (deployReferenceSolution) {
  name: names.privateDnsZone
  location: 'global'
  tags: tags
  properties: {}
}

resource privateDnsZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = if (deployReferenceSolution) {
  parent: privateDnsZone
  name: '${names.vnet}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

resource privateEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = if (deployReferenceSolution) {
  name: names.privateEndpoint
  location: location
  tags: tags
  properties: {
    subnet: {
      id: resourceId('Microsoft.Network/virtualNetworks/subnets', names.vnet, 'endpoints')
    }
    privateLinkServiceConnections: [
      {
        name: 'sql'
        properties: {
          privateLinkServiceId: sqlServer.id
          groupIds: [
            'sqlServer'
          ]
        }
      }
    ]
  }
  dependsOn: [
    vnet
  ]
}

resource privateEndpointDnsGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = if (deployReferenceSolution) {
  parent: privateEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'database'
        properties: {
          privateDnsZoneId: privateDnsZone.id
        }
      }
    ]
  }
}

resource sqlAuditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = if (deployReferenceSolution) {
  parent: sqlServer
  name: 'default'
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

resource gatewayDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: gateway
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'GatewayDiagnosticLog'
        enabled: true
      }
      {
        category: 'TunnelDiagnosticLog'
        enabled: true
      }
      {
        category: 'IKEDiagnosticLog'
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

resource dataFactoryDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: dataFactory
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'PipelineRuns'
        enabled: true
      }
      {
        category: 'ActivityRuns'
        enabled: true
      }
      {
        category: 'TriggerRuns'
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

resource keyVaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (deployReferenceSolution) {
  scope: keyVault
  name: 'to-log-analytics'
  properties: {
    workspaceId: law.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AuditEvent'
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

output gatewayPublicIp string = gatewayIp.properties.ipAddress
output vnetAddressPrefix string = vnetAddressPrefix
output sqlServerFqdn string = sqlServer.properties.fullyQualifiedDomainName
output keyVaultUri string = keyVault.properties.vaultUri
